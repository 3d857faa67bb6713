"""Models of the course, one module a concept: encoders (image CNN, ResNet-18 adapter, text
GRU, frozen sentence encoder) and contrastive (projection heads, InfoNCE, metric losses,
zero-shot classification)."""
