"""The filesystem edge: walking, hashing, watching and settling what is under the roots, and creating files in them without following symlinks."""
