import AIOSClient
import ArgumentParser
import Foundation

/// `--server`, shared by every command that talks to a running platform.
struct ServerOptions: ParsableArguments {
    @Option(help: "URL of the aios HTTP API.")
    var server: String = ProcessInfo.processInfo.environment["AIOS_SERVER"] ?? "http://127.0.0.1:8420"

    var client: APIClient { APIClient(server: server) }
}

/// Prints to standard error.
func printError(_ text: String) {
    FileHandle.standardError.write(Data((text + "\n").utf8))
}
