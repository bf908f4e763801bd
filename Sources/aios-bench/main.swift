// `make bench`: every benchmark prints its numbers and a ratio against a baseline measured in the same run.
// `aios-bench placement|startup|gateway|scale|chat|vdag|split|oci|policy` runs the ones named.
let selected = Set(CommandLine.arguments.dropFirst())
if selected.isEmpty || selected.contains("placement") { try PlacementBenchmark.run() }
if selected.isEmpty || selected.contains("startup") { try await StartupBenchmark.run() }
if selected.isEmpty || selected.contains("gateway") { try await GatewayBenchmark.run() }
if selected.isEmpty || selected.contains("scale") { try await ScaleUpBenchmark.run() }
if selected.isEmpty || selected.contains("chat") { try await ThirdPartyChatBenchmark.run() }
if selected.isEmpty || selected.contains("vdag") { try await VDAGBenchmark.run() }
if selected.isEmpty || selected.contains("split") { try await SplitBenchmark.run() }
if selected.isEmpty || selected.contains("oci") { try await OCIBenchmark.run() }
if selected.isEmpty || selected.contains("policy") { try await PolicyBenchmark.run() }
