import CalfRuntime
import Hummingbird

/// Counts every request and how it was answered into the node's
/// `HTTPCounters` (for `stats`); the first middleware, so that a 401 counts too.
struct CountingMiddleware<Context: RequestContext>: RouterMiddleware {
    let counters: HTTPCounters

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        counters.began()
        do {
            let response = try await next(request, context)
            counters.ended(status: Int(response.status.code))
            return response
        } catch let error as any HTTPResponseError {
            counters.ended(status: Int(error.status.code))
            throw error
        } catch {
            counters.ended(status: 500)
            throw error
        }
    }
}
