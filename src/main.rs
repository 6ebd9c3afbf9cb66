fn main() -> std::process::ExitCode {
    entratool::main()
}
