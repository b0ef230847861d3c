//! The `dokflyt` binary: everything lives in the library; see `dokflyt --help`.

fn main() -> std::process::ExitCode {
    dokflyt::cli::main()
}
