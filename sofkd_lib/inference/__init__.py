"""Using a trained model: tiled upscaling of frames or videos, ONNX export."""
