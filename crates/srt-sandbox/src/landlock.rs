//! Landlock layer (in progress).
