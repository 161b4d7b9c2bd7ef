"""The one progress mechanism: lines off a terminal, a JSONL record per interval, silent off rank 0."""

import io

from alexnet.jsonl import JsonlWriter, read_jsonl
from alexnet.progress import Progress


def test_lines_off_a_terminal_and_log_records(tmp_path):
    stream = io.StringIO()  # not a terminal: one line per interval, none of tqdm's bar
    with JsonlWriter(tmp_path / "log.jsonl") as log:
        with Progress(total=5, desc="features", unit="img", stream=stream, log=log, interval_s=0) as bar:
            for _ in range(5):
                bar.update(1, failed=0)
    lines = stream.getvalue().splitlines()
    assert len(lines) == 6  # one per update (interval 0) and the final one
    assert lines[-1].startswith("features: 5/5 img (") and lines[-1].endswith("failed=0")
    records = [r for r in read_jsonl(tmp_path / "log.jsonl") if r["event"] == "progress"]
    assert [r["done"] for r in records] == [1, 2, 3, 4, 5, 5]
    assert all(r["total"] == 5 and r["desc"] == "features" and r["failed"] == 0 for r in records)


def test_long_interval_prints_only_the_end(tmp_path):
    stream = io.StringIO()
    with Progress(total=None, desc="prepare", stream=stream, interval_s=3600) as bar:
        bar.set(40)
        bar.write("a message")
    assert stream.getvalue().splitlines() == ["a message", stream.getvalue().splitlines()[-1]]
    assert stream.getvalue().splitlines()[-1].startswith("prepare: 40 it")


def test_only_rank_zero_shows_and_logs(tmp_path, monkeypatch):
    monkeypatch.setenv("RANK", "1")
    stream = io.StringIO()
    with JsonlWriter(tmp_path / "log.jsonl") as log:
        with Progress(total=3, desc="train", stream=stream, log=log, interval_s=0) as bar:
            bar.update(3)
            bar.write("rank 1 says nothing")
    assert stream.getvalue() == ""
    assert read_jsonl(tmp_path / "log.jsonl") == []


def test_show_false_silences_but_keeps_the_log(tmp_path):
    stream = io.StringIO()
    with JsonlWriter(tmp_path / "log.jsonl") as log:
        with Progress(total=2, desc="evaluate", stream=stream, log=log, show=False, interval_s=0) as bar:
            bar.update(2)
    assert stream.getvalue() == ""
    assert [r["done"] for r in read_jsonl(tmp_path / "log.jsonl")] == [2, 2]


def test_provenance_records_the_tree_and_the_host(tmp_path):
    """The provenance record: the git commit and dirtiness of this checkout, a CPU model, versions."""
    import subprocess

    from alexnet.provenance import describe, git_state, provenance
    record = provenance(argv=["alexnet", "demo", "--out", "runs/x y"])
    assert record["command"] == "alexnet demo --out 'runs/x y'"
    assert record["date"].endswith("Z") and record["versions"]["torch"]
    assert record["cpu_count"] >= 1 and record["device"] == "cpu"
    # a tree made here: clean after the commit, dirty after an edit, nothing outside git
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    (tmp_path / "f").write_text("a")
    git = ["git", "-C", str(tmp_path), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git, "add", "f"], check=True)
    subprocess.run([*git, "commit", "-qm", "x"], check=True)
    clean = git_state(tmp_path)
    assert len(clean["commit"]) == 40 and clean["dirty"] is False
    (tmp_path / "f").write_text("b")
    assert git_state(tmp_path)["dirty"] is True
    assert git_state(tmp_path.parent / "no-such-folder") == {"commit": None, "dirty": None}
    assert "(dirty)" in describe({**record, "commit": "a" * 40, "dirty": True})
