import ArgumentParser

@main
struct AIOS: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "aios",
        abstract: "Deploy AI and non-AI workloads as blocks onto GPU clusters.",
        subcommands: [Up.self, Apply.self, Get.self, Describe.self, Logs.self, Delete.self, Infer.self, Mgmt.self, Top.self, VDAG.self, Split.self, Token.self])
}
