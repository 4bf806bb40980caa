//! The binary's subcommands, one module each (compiled into `main`, not the library):
//! [`admin`] keys, [`check`], [`tenant`] export and import, the Teams [`manifest`], [`card`]
//! rendering. `serve` is `main` itself: it builds the application and runs it.

pub mod admin;
pub mod card;
pub mod check;
pub mod manifest;
pub mod tenant;
