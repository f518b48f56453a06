//! Exercises live in `src/bin/`; lessons add them.
