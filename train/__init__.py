"""The training and release scripts.  Each runs as ``python train/NAME.py``; the folder is a package
so that the tests can import them (``from train import cifar``) with the repository on the path."""
