//! Pure tests of the workflow documents: validation and runs.

mod runs;
mod validation;
