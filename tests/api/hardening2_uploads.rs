//! Issue 30 (hardening II).
