"""Reading and writing other codebases' files: each module turns them into munit's own layouts (a Model for
inference, a checkpoint state for training), so that nothing below this package knows another codebase."""
