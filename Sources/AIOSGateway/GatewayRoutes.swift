import AIOSBlock
import Hummingbird

/// Adds the gateway's HTTP surfaces to a router: `/v1/infer`, the OpenAI-compatible `/v1/chat/completions`,
/// `/v1/completions` and `/v1/models`.
public struct GatewayRoutes: Sendable {
    let gateway: InferenceGateway
    let generators: (any TextGenerators)?

    public init(gateway: InferenceGateway, generators: (any TextGenerators)? = nil) {
        self.gateway = gateway
        self.generators = generators
    }

    public func add<Context: RequestContext>(to router: Router<Context>) {
        let rest = RESTInference(gateway: gateway)
        let openAI = OpenAICompatibility(gateway: gateway, generators: generators)
        router.post("v1/infer") { request, _ in await rest.handle(request) }
        router.post("v1/chat/completions") { request, _ in await openAI.complete(request, kind: .chat) }
        router.post("v1/completions") { request, _ in await openAI.complete(request, kind: .completion) }
        router.get("v1/models") { _, _ in await openAI.models() }
    }
}
