import AIOSModel
import Foundation
import GRPCCore

/// Management commands and parameter updates sent to a block's instances, one or all at once, with every
/// instance's answer (or its error) returned.
public enum Management {
    public struct Answer: Sendable {
        public var instanceId: String
        public var result: Result<JSONValue, InferenceError>

        public var json: JSONValue {
            switch result {
            case .success(let value): ["instanceId": .string(instanceId), "success": true, "data": value]
            case .failure(let error): ["instanceId": .string(instanceId), "success": false,
                                       "error": ["code": .string(error.code.rawValue), "message": .string(error.message)]]
            }
        }
    }

    public static let timeout: Duration = .seconds(10)

    /// `management(action, data)` on each of `connections`, concurrently.
    public static func manage(_ connections: [InstanceConnection], action: String, data: JSONValue) async -> [Answer] {
        let dataJSON = data.jsonString()
        return await fanOut(connections) { connection in
            try await connection.channel.manage(action: action, dataJSON: dataJSON, timeout: timeout)
        }
    }

    /// `on_update(parameters)` on each of `connections`; the answer is the instance's parameters afterwards.
    public static func updateParameters(_ connections: [InstanceConnection], parameters: [String: JSONValue]) async -> [Answer] {
        let parametersJSON = JSONValue.object(parameters).jsonString()
        return await fanOut(connections) { connection in
            try await connection.channel.updateParameters(parametersJSON: parametersJSON, timeout: timeout)
        }
    }

    private static func fanOut(_ connections: [InstanceConnection],
                               _ call: @escaping @Sendable (InstanceConnection) async throws -> String) async -> [Answer] {
        await withTaskGroup(of: (Int, Answer).self) { group in
            for (index, connection) in connections.enumerated() {
                group.addTask {
                    do {
                        let text = try await call(connection)
                        let value = JSONValue.decodeJSON(Data(text.utf8)) ?? .string(text)
                        return (index, Answer(instanceId: connection.instanceId, result: .success(value)))
                    } catch let error as RPCError {
                        return (index, Answer(instanceId: connection.instanceId, result: .failure(InferenceError(instance: connection.instanceId, error))))
                    } catch {
                        return (index, Answer(instanceId: connection.instanceId, result: .failure(InferenceError(.internal, "\(error)"))))
                    }
                }
            }
            var answers: [(Int, Answer)] = []
            for await answer in group { answers.append(answer) }
            return answers.sorted { $0.0 < $1.0 }.map(\.1)
        }
    }
}
