//! Reference solutions live in `src/bin/`; lessons add them.
