//! `cargo xtask bench`: see the README.
pub fn run(_args: &[String]) -> crate::Result {
    Err("bench is not built yet".into())
}
