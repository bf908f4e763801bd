import AIOSGateway
import AIOSModel
import Hummingbird
import Logging

/// Turns every error into the API's JSON error form: `APIError`s as they are, Hummingbird's own HTTP errors
/// (unknown route, body too large) with their status, and anything else as a logged 500 that names no internals.
struct ErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as APIError {
            context.logger.info("request rejected", metadata: [
                "path": "\(request.uri.path)", "code": "\(error.code.rawValue)", "error": "\(error.message)",
            ])
            return .error(error)
        } catch let error as any HTTPResponseError {
            // Hummingbird's own errors (HTTPError, and NIO's too-many-bytes error for an oversized body).
            let apiError: APIError = switch error.status {
            case .notFound: APIError(.notFound, "no route \(request.method) \(request.uri.path)")
            case .contentTooLarge: APIError(.payloadTooLarge, "the body is larger than \(HTTPAPI.maxBodyBytes) bytes")
            default: APIError(.invalidDocument, (error as? HTTPError)?.body ?? error.status.reasonPhrase)
            }
            var response = Response.error(apiError)
            if error.status != .notFound && error.status != .contentTooLarge {
                response.status = error.status
            }
            return response
        } catch {
            context.logger.error("request failed", metadata: ["path": "\(request.uri.path)", "error": "\(error)"])
            return .error(APIError(.internalError, "internal error; see the server log"))
        }
    }
}

extension Response {
    static func error(_ error: APIError) -> Response {
        json(error.json, status: HTTPResponse.Status(code: error.httpStatus))
    }
}
