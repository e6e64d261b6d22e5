"""Stylizing with a trained model: torch and ONNX backends, tiling, video, export."""
