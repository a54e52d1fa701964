"""reasoning_jax: reasoning language models, RL and test-time scaling in JAX."""

import setuptools

setuptools.setup(
    name="reasoning_jax",
    version="0.1.0",
    description=(
        "Reasoning LMs in JAX/Flax: SFT, GRPO/PPO, verifiers and "
        "test-time scaling."
    ),
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    packages=setuptools.find_packages(include=["reasoning_jax*"]),
    python_requires=">=3.10",
    install_requires=[
        "jax>=0.10",
        "flax>=0.12",
        "optax>=0.2.8",
        "orbax-checkpoint>=0.12",
        "tensorflow-datasets>=4.9",
        "importlib_resources",  # tfds imports it without declaring it.
        "sentencepiece>=0.2",
        "ml-collections>=1.0",
        "absl-py>=2.0",
        "numpy",
        "matplotlib",  # PNG plots.
        "tensorboardX",  # TensorBoard event files without TensorFlow.
        "safetensors",  # Hugging Face checkpoints (numpy only).
        "tokenizers",  # Hugging Face tokenizer.json.
        "gguf>=0.10",  # llama.cpp checkpoints (models/gguf.py).
    ],
    extras_require={
        # torch==2.13.0 is the CPU build on this project's machines; the
        # tests compare checkpoints against transformers' logits.
        "test": [
            "pytest>=8",
            "pytest-xdist",
            "nbclient",
            "nbformat",
            "ipykernel",
            "torch==2.13.0",
            "transformers>=4.45",
            "accelerate",  # transformers' GGUF loader, the tests' reference.
            # The formatter and import order that .ci/run checks.
            "pyink==26.5.1",
            "isort==9.0.2",
        ],
        "notebooks": ["jupyter", "nbclient", "nbformat", "ipykernel"],
    },
)
