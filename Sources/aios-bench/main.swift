// `make bench`: every benchmark prints its numbers and a ratio against a baseline measured in the same run.
try PlacementBenchmark.run()
try await StartupBenchmark.run()
