"""The bundled model bundles, installed as package data (import name `actionstream_models`).

Each sub-folder is a bundle (manifest.json + ONNX files); streaming.demo finds them through this package.
"""
