"""Training: the loop (``train_step``, ``Trainer``), checkpoints, schedules, DDP, fine-tuning.

    from alexnet.recipes import resolve_config
    from alexnet.train.runner import run_training
    summary = run_training(resolve_config("paper", {"data": "data/imagenet"}), "runs/paper")
"""
