/// How a wanted GPU model (`gpu_model: "H100"`) matches a GPU's model name (`NVIDIA H100 80GB HBM3`):
/// case-insensitively, by whole words. Both are split into words of letters and digits (spaces, dashes and
/// other punctuation separate them), and the wanted words must appear one after another in the GPU's name.
///
/// So `H100`, `h100`, `H100 80GB` and the full name all match `NVIDIA H100 80GB HBM3`, `RTX 4090` matches
/// `NVIDIA GeForce RTX 4090`, but `A10` does not match `NVIDIA A100-SXM4-80GB` (a plain substring test would).
public enum GPUModelName {
    public static func matches(_ wanted: String, _ modelName: String) -> Bool {
        let want = words(wanted), have = words(modelName)
        guard !want.isEmpty, want.count <= have.count else { return false }
        return (0...(have.count - want.count)).contains { start in
            have[start..<(start + want.count)].elementsEqual(want)
        }
    }

    /// Whether `modelName` matches any of `wanted`.
    public static func matches(anyOf wanted: [String], _ modelName: String) -> Bool {
        wanted.contains { matches($0, modelName) }
    }

    /// The lowercased words of letters and digits in `name`.
    static func words(_ name: String) -> [Substring] {
        name.lowercased().split { !($0.isLetter || $0.isNumber) }
    }
}
