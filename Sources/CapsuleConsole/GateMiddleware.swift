import CapsuleProtocol
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore

/// Runs ``SessionGate`` before every route (unknown paths included), and puts the console's security
/// headers on every answer.
struct GateMiddleware: RouterMiddleware {
    typealias Context = BasicRequestContext

    let gate: SessionGate
    let logger: Logger

    /// No inline script or style, nothing from another origin, no framing, no referrer (the first
    /// URL carries the secret).
    static let contentSecurityPolicy = [
        "default-src 'none'", "script-src 'self'", "style-src 'self'", "img-src 'self' data:", "connect-src 'self'",
        "base-uri 'none'", "form-action 'self'", "frame-ancestors 'none'",
    ].joined(separator: "; ")

    func handle(
        _ request: Request,
        context: Context,
        next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        var response: Response
        switch gate.decide(Self.head(request)) {
        case .allow:
            do {
                response = try await next(request, context)
            } catch let error as HTTPError {
                response = ConsoleServer.failure(
                    ErrorBody(
                        code: error.status == .notFound ? "not_found" : "bad_request",
                        message: error.body ?? error.status.reasonPhrase
                    ),
                    timing: .now
                )
                response.status = error.status
            }
        case .redirect(let location, let cookie):
            var headers = HTTPFields()
            headers[.location] = location
            headers[.setCookie] = cookie
            response = Response(status: .seeOther, headers: headers)
        case .unauthorized:
            logger.debug(
                "Refused a request without the session secret.",
                metadata: ["http.path": "\(request.uri.path)"]
            )
            response = Self.refusal(
                request,
                .unauthorized,
                code: "unauthenticated",
                """
                This Capsule console needs its session secret. Open the URL that `capsulectl console` printed \
                (it ends in ?token=…); the secret then stays in a cookie for this browser session.
                """
            )
        case .forbidden(let reason):
            logger.notice(
                "Refused a request to the console.",
                metadata: ["http.path": "\(request.uri.path)", "reason": "\(reason)"]
            )
            response = Self.refusal(request, .forbidden, code: "forbidden", "Refused: \(reason).")
        }
        response.headers[.contentSecurityPolicy] = Self.contentSecurityPolicy
        response.headers[.xContentTypeOptions] = "nosniff"
        response.headers[HTTPField.Name("Referrer-Policy")!] = "no-referrer"
        response.headers[HTTPField.Name("X-Frame-Options")!] = "DENY"
        response.headers[HTTPField.Name("Cross-Origin-Opener-Policy")!] = "same-origin"
        response.headers[HTTPField.Name("Cross-Origin-Resource-Policy")!] = "same-origin"
        return response
    }

    static func head(_ request: Request) -> SessionGate.Head {
        let query = request.uri.query ?? ""
        var token: String?
        var rest: [Substring] = []
        for part in query.split(separator: "&") {
            if part.hasPrefix("token=") {
                token = String(part.dropFirst("token=".count)).removingPercentEncoding
            } else {
                rest.append(part)
            }
        }
        return SessionGate.Head(
            method: request.method.rawValue,
            path: request.uri.path,
            queryToken: token,
            otherQuery: rest.joined(separator: "&"),
            cookieHeader: request.headers[values: .cookie].joined(separator: "; "),
            authorization: request.headers[.authorization],
            host: request.head.authority,
            origin: request.headers[.origin],
            contentType: request.headers[.contentType],
            consoleHeader: request.headers[HTTPField.Name("X-Capsule-Console")!]
        )
    }

    /// A refusal: JSON for the API, a short page for a person in the browser.
    static func refusal(
        _ request: Request,
        _ status: HTTPResponse.Status,
        code: ErrorBody.Code,
        _ text: String
    ) -> Response {
        guard request.uri.path.hasPrefix("/api/") else { return page(status, text) }
        var response = ConsoleServer.failure(ErrorBody(code: code, message: text), timing: .now)
        response.status = status
        return response
    }

    static func page(_ status: HTTPResponse.Status, _ text: String) -> Response {
        let html = """
            <!doctype html><html lang="en"><meta charset="utf-8"><title>Capsule console: \(status.code)</title>\
            <body><h1>\(status.code) \(status.reasonPhrase)</h1><p>\(escape(text))</p></body></html>
            """
        var headers = HTTPFields()
        headers[.contentType] = "text/html; charset=utf-8"
        headers[.cacheControl] = "no-store"
        return Response(status: status, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(string: html)))
    }

    static func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }
}
