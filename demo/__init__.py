"""The tb-featviz demo: train a CNN on Fashion-MNIST and watch its features emerge in TensorBoard."""
