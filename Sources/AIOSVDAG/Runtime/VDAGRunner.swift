import AIOSBlock
import AIOSGateway
import AIOSModel
import AIOSPolicy
import AIOSWire
import Foundation

/// Calls one block: the packet in, its outputs out, finished by `deadline`.
public typealias VDAGBlockInvoker = @Sendable (_ blockId: String, _ packet: AIOSPacket, _ deadline: ContinuousClock.Instant) async throws(InferenceError) -> [AIOSPacket]

/// Runs one request through a vDAG. The input goes to the graph's input nodes; each node runs as soon as
/// all its parents have answered, receiving its parent's packet, or `{"inputs": [...]}` (the parents' data in
/// connection order, files concatenated) when it has several. The reply is the output node's packet, or
/// `{"outputs": {label: data}}` for several. One deadline covers the whole graph; the first node that fails
/// ends the request (the others are cancelled) with its status and a message naming the node and its block.
public struct VDAGRunner: Sendable {
    public let plan: VDAGPlan
    public let stats: VDAGStats
    private let invoke: VDAGBlockInvoker
    /// Registered custom policies: a node's pre/post-processing rule naming one runs it.
    public let policies: CustomPolicies?

    public init(plan: VDAGPlan, stats: VDAGStats = VDAGStats(), policies: CustomPolicies? = nil, invoke: @escaping VDAGBlockInvoker) {
        self.plan = plan
        self.stats = stats
        self.policies = policies
        self.invoke = invoke
    }

    public func run(_ request: AIOSPacket, clientTimeout: Duration?) async throws(InferenceError) -> AIOSPacket {
        let timeout = min(clientTimeout ?? plan.timeout, plan.timeout)
        let deadline = ContinuousClock.now + timeout
        let began = ContinuousClock.now
        do {
            let reply = try await runGraph(request, deadline: deadline, timeout: timeout)
            stats.record(node: nil, seconds: began.duration(to: .now).seconds, failed: false)
            return reply
        } catch {
            stats.record(node: nil, seconds: began.duration(to: .now).seconds, failed: true)
            throw error
        }
    }

    private func runGraph(_ request: AIOSPacket, deadline: ContinuousClock.Instant, timeout: Duration) async throws(InferenceError) -> AIOSPacket {
        let graph = plan.graph
        do {
            return try await withThrowingTaskGroup(of: (String, AIOSPacket).self) { group in
                var outputs: [String: AIOSPacket] = [:]
                var started: Set<String> = []
                while true {
                    for label in graph.order where !started.contains(label) {
                        let parents = graph.parents[label] ?? []
                        guard parents.allSatisfy({ outputs[$0] != nil }) else { continue }
                        started.insert(label)
                        let input = parents.isEmpty ? request : Self.join(parents.compactMap { outputs[$0] }, request: request)
                        group.addTask { (label, try await runNode(label, input, deadline: deadline, timeout: timeout)) }
                    }
                    guard let (label, output) = try await group.next() else { break }
                    outputs[label] = output
                }
                return Self.assemble(graph.outputs, outputs, request: request)
            }
        } catch let error as InferenceError {
            throw error
        } catch {
            if Task.isCancelled { throw InferenceError(.cancelled, "the client cancelled the request") }
            throw InferenceError(.internal, "vDAG \(plan.uri): \(error)")
        }
    }

    private func runNode(_ label: String, _ input: AIOSPacket, deadline: ContinuousClock.Instant, timeout: Duration) async throws(InferenceError) -> AIOSPacket {
        guard let node = plan.nodes[label] else { throw InferenceError(.internal, "vDAG \(plan.uri) has no node \(label)") }
        let began = ContinuousClock.now
        do throws(InferenceError) {
            var packet = input
            packet.data = try await process(packet, rule: node.preprocessingRule, kind: .preprocessing, builtIn: node.preprocess, blockId: node.blockId)
            let outputs = try await invoke(node.blockId, packet, deadline)
            guard !outputs.isEmpty else {
                throw InferenceError(.internal, "it returned no output")
            }
            var output = Replies.single(outputs, request: packet)
            output.data = try await process(output, rule: node.postprocessingRule, kind: .postprocessing, builtIn: node.postprocess, blockId: node.blockId)
            stats.record(node: label, seconds: began.duration(to: .now).seconds, failed: false)
            return output
        } catch {
            stats.record(node: label, seconds: began.duration(to: .now).seconds, failed: true)
            if error.code == .deadlineExceeded || ContinuousClock.now >= deadline {
                throw InferenceError(.deadlineExceeded, "vDAG \(plan.uri): node \(label) (block \(node.blockId)) did not answer within the deadline of \(timeout.seconds.formatted) s")
            }
            if error.code == .cancelled { throw error }
            throw InferenceError(error.code, "vDAG \(plan.uri): node \(label) (block \(node.blockId)) failed: \(error.message)")
        }
    }

    /// A processing step: the custom policy of `rule` when one is registered (`{packet}` in, `{packet}` out,
    /// the packet's `data` taken from it), else, or when it fails (the node's block's events say so), the
    /// built-in step.
    private func process(_ packet: AIOSPacket, rule: VDAGProcessingRule?, kind: PolicyKind, builtIn: VDAGProcessor, blockId: String) async throws(InferenceError) -> String {
        guard let policies, let rule, let uri = rule.policyURI, builtIn == .identity else { return try builtIn.apply(packet.data) }
        let policyRule = PolicyRule(kind: kind, uri: uri, parameters: rule.parameters, settings: [:], location: .root)
        let failure: PolicyFailure
        switch await policies.evaluate(policyRule, owner: blockId, input: ["packet": RequestView(packet: packet).json]) {
        case .builtIn:
            return try builtIn.apply(packet.data)
        case .decided(let result):
            switch PolicyOutputs.packet(result) {
            case .success(let out):
                let data = out.objectValue.map { $0["data"] ?? .null } ?? out
                return data.stringValue ?? data.jsonString()
            case .failure(let bad):
                failure = bad
            }
        case .failed(let failed):
            failure = failed
        }
        await policies.reportFallback(policyRule, owner: blockId, failure, builtIn: "identity")
        return try builtIn.apply(packet.data)
    }

    /// A node's input: its one parent's output (in the request's session), or from several parents
    /// `{"inputs": [their data]}` in connection order, their files after each other.
    static func join(_ parents: [AIOSPacket], request: AIOSPacket) -> AIOSPacket {
        var packet = request
        if parents.count == 1 {
            packet.data = parents[0].data
            packet.files = parents[0].files
            packet.outputPtr = parents[0].outputPtr
            return packet
        }
        packet.data = JSONValue.object(["inputs": .array(parents.map(Self.json))]).jsonString()
        packet.files = parents.flatMap(\.files)
        return packet
    }

    /// The reply: the output node's packet, or `{"outputs": {label: data}}` for several.
    static func assemble(_ labels: [String], _ outputs: [String: AIOSPacket], request: AIOSPacket) -> AIOSPacket {
        var reply: AIOSPacket
        if labels.count == 1, let only = outputs[labels[0]] {
            reply = only
        } else {
            reply = AIOSPacket()
            reply.data = JSONValue.object(["outputs": .object(Dictionary(uniqueKeysWithValues: labels.map { ($0, outputs[$0].map(Self.json) ?? .null) }))]).jsonString()
            reply.files = labels.flatMap { outputs[$0]?.files ?? [] }
        }
        reply.sessionID = request.sessionID
        reply.seqNo = request.seqNo
        reply.ts = Date().timeIntervalSince1970
        return reply
    }

    private static func json(_ packet: AIOSPacket) -> JSONValue {
        JSONValue.decodeJSON(Data(packet.data.utf8)) ?? .string(packet.data)
    }
}

extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}
