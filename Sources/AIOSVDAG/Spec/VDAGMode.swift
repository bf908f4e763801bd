import AIOSModel

extension VDAGSpec {
    /// What `POST /api/createvDAG` does with the spec (`mode`, default `create`).
    ///
    /// AIOS's parser accepts `create`, `validateGraph` and `dryRunAssignment`; its docs say `dry-run`.
    /// All are accepted here, and `dry_run` (the block API's spelling) too.
    public enum Mode: String, Sendable, CaseIterable {
        /// Validate, assign blocks and store the vDAG.
        case create
        /// Validate the graph only.
        case validateGraph
        /// Validate and assign, store nothing.
        case dryRun
        /// Resolve each node's block only.
        case dryRunAssignment

        /// Every accepted spelling, for error messages.
        public static let spellings = ["create", "validateGraph", "dry-run", "dry_run", "dryRun", "dryRunAssignment"]

        /// Reads a submitted `mode`; `nil` when it is none of ``spellings``.
        public init?(spelling: String) {
            switch spelling {
            case "dry-run", "dry_run": self = .dryRun
            default: self.init(rawValue: spelling)
            }
        }
    }
}
