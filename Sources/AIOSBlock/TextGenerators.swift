import AIOSModel

/// Models that generate text through something other than one block (a split model's vDAG controller runs
/// the decode loop). The OpenAI-compatible front asks these first; a `model` none of them serves is a block id.
public protocol TextGenerators: Sendable {
    func generator(for model: String) async -> (any TextGenerator)?
}

/// Generates a completion for an OpenAI-style request body (`messages` or `prompt`, `max_tokens`,
/// `temperature`, `seed`, `top_k`), handing each piece of text to `onText` as it is produced.
public protocol TextGenerator: Sendable {
    func generate(_ body: [String: JSONValue], session: String, clientTimeout: Duration?,
                  onText: @escaping @Sendable (String) async -> Void) async throws(InferenceError) -> TextGeneration
}

/// How a generation ended.
public struct TextGeneration: Sendable, Equatable {
    public var text: String
    public var promptTokens: Int
    public var completionTokens: Int
    /// `stop` (the model ended its answer) or `length` (`max_tokens` reached).
    public var finishReason: String

    public init(text: String, promptTokens: Int, completionTokens: Int, finishReason: String) {
        self.text = text
        self.promptTokens = promptTokens
        self.completionTokens = completionTokens
        self.finishReason = finishReason
    }

    public var usage: JSONValue {
        ["prompt_tokens": .number(Double(promptTokens)), "completion_tokens": .number(Double(completionTokens)),
         "total_tokens": .number(Double(promptTokens + completionTokens))]
    }
}
