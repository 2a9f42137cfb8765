"""munit: multimodal unsupervised image-to-image translation (MUNIT) and its baselines, in PyTorch."""


def __getattr__(name: str):
    if name == "Translator":  # Imported on first use: `import munit.config` stays light.
        from munit.api import Translator

        return Translator
    raise AttributeError(f"module 'munit' has no attribute {name!r}")
