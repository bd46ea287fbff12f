//! edgeplay's native runner.
