"""Two commands started together prepare the automatic cache once (a bug found running two demos at
once: the second cleared the first's half-written shards, "No such file ... .tmp-shard-00000.bin")."""

import multiprocessing
import time

from alexnet.data.open import cache_dir, open_data, preparing_lock
from data_fixtures import fashion_mnist_dir


def _open(src: str, cache: str, q) -> None:
    import os
    os.environ["ALEXNET_CACHE"] = cache
    try:
        opened = open_data(src, progress=False)
        q.put(("ok", len(opened.train), len(opened.val)))
    except Exception as e:  # reported to the test, which fails with it
        q.put(("error", repr(e)))


def test_preparation_waits_for_a_command_that_is_preparing(tmp_path, monkeypatch):
    src, _ = fashion_mnist_dir(tmp_path / "fm", n_train=30, n_val=12)
    cache = tmp_path / "cache"
    monkeypatch.setenv("ALEXNET_CACHE", str(cache))
    ctx = multiprocessing.get_context("spawn")
    q = ctx.Queue()
    # hold the lock of the folder the command would prepare into, as a running preparation does
    probe = open_data(src, progress=False).root       # find the folder's name, then start over
    import shutil
    shutil.rmtree(probe)
    with preparing_lock(probe):
        p = ctx.Process(target=_open, args=(str(src), str(cache), q))
        p.start()
        time.sleep(3.0)
        assert p.is_alive() and not (probe / "train").exists(), "preparation did not wait for the lock"
    p.join(60)
    assert q.get(timeout=5) == ("ok", 30, 12)


def test_three_commands_at_once_all_open_the_same_complete_store(tmp_path, monkeypatch):
    src, _ = fashion_mnist_dir(tmp_path / "fm", n_train=300, n_val=50)
    cache = tmp_path / "cache"
    monkeypatch.setenv("ALEXNET_CACHE", str(cache))
    ctx = multiprocessing.get_context("spawn")
    q = ctx.Queue()
    procs = [ctx.Process(target=_open, args=(str(src), str(cache), q)) for _ in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    assert sorted(q.get(timeout=5) for _ in procs) == [("ok", 300, 50)] * 3
    assert not list(cache_dir().glob("*/*/.tmp-*"))
