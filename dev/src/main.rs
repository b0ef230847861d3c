//! The `dokflyt-dev` binary (the demo and the benchmarks); see `dokflyt-dev --help`.

fn main() -> std::process::ExitCode {
    dokflyt_dev::cli::main()
}
