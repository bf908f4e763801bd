import AIOSClient
import ArgumentParser
import Foundation

/// `--server` and the token, shared by every command that talks to a running platform.
struct ServerOptions: ParsableArguments {
    @Option(help: "URL of the aios HTTP API.")
    var server: String = ProcessInfo.processInfo.environment["AIOS_SERVER"] ?? "http://127.0.0.1:8420"

    @Option(help: "Bearer token (default $AIOS_TOKEN, else the admin token of --data-dir when it is readable).")
    var token: String? = ProcessInfo.processInfo.environment["AIOS_TOKEN"]

    @Option(help: "The data directory of a local aios up, whose tokens/admin.token is used when no token is given.")
    var dataDir: String = ProcessInfo.processInfo.environment["AIOS_DATA_DIR"]
        ?? FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".aios").path

    @Option(help: "A PEM CA certificate to trust for an https:// server (default $AIOS_CA_FILE).")
    var caFile: String? = ProcessInfo.processInfo.environment["AIOS_CA_FILE"]

    /// The token given, else the local admin token, else none (a server with `--auth off`).
    var resolvedToken: String? {
        if let token, !token.isEmpty { return token }
        let file = URL(fileURLWithPath: dataDir).appendingPathComponent("tokens/admin.token")
        guard let data = FileManager.default.contents(atPath: file.path) else { return nil }
        let text = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        return text.isEmpty ? nil : text
    }

    var client: APIClient { APIClient(server: server, token: resolvedToken, caFile: caFile) }
}

/// Prints to standard error.
func printError(_ text: String) {
    FileHandle.standardError.write(Data((text + "\n").utf8))
}
