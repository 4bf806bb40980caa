//! Tests of the card catalog against its snapshots and the Teams checks.

mod catalog;
