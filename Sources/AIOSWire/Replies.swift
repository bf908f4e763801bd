import Foundation

/// Shapes a block's outputs into the one reply AIOS clients expect.
public enum Replies {
    /// One output is the reply; several (a preprocessing step that made several entries) become one
    /// packet whose `data` is a JSON array of their data; none becomes an empty reply to the request.
    public static func single(_ outputs: [AIOSPacket], request: AIOSPacket) -> AIOSPacket {
        if outputs.count == 1 { return outputs[0] }
        var reply = AIOSPacket()
        reply.sessionID = request.sessionID
        reply.seqNo = request.seqNo
        reply.ts = Date().timeIntervalSince1970
        reply.outputPtr = outputs.first?.outputPtr ?? ""
        reply.data = joinedData(outputs.map(\.data))
        reply.files = outputs.flatMap(\.files)
        return reply
    }

    /// A JSON array of the outputs' data: each parsed as JSON where it is JSON, else kept as a string.
    static func joinedData(_ data: [String]) -> String {
        let elements: [Any] = data.map { text in
            (try? JSONSerialization.jsonObject(with: Data(text.utf8), options: [.fragmentsAllowed])) ?? text
        }
        guard let encoded = try? JSONSerialization.data(withJSONObject: elements, options: [.fragmentsAllowed, .withoutEscapingSlashes]) else { return "[]" }
        return String(decoding: encoded, as: UTF8.self)
    }
}
