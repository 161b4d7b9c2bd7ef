"""Training: recipes, the loop (``train_step``, ``Trainer``), checkpoints, DDP, fine-tuning.

    from alexnet.train.recipes import resolve_config
    from alexnet.train.runner import run_training
    summary = run_training(resolve_config("paper", {"data": "data/imagenet"}), "runs/paper")
"""
