import NIOHPACK

/// What Mesher reads of a gRPC call (`content-type: application/grpc…`): its deadline, and its status as the
/// class of its response for retries, ejection and metrics.
enum GRPCCall {
    static func isGRPC(_ headers: HPACKHeaders) -> Bool {
        headers.first(name: "content-type")?.hasPrefix("application/grpc") ?? false
    }

    /// `grpc-timeout`: 1 to 8 digits and a unit (H, M, S, m, u, n), in nanoseconds; `nil` when absent or
    /// malformed (the call then has the route's timeout only).
    static func timeout(_ headers: HPACKHeaders) -> UInt64? {
        guard let text = headers.first(name: "grpc-timeout"), let unit = text.utf8.last, text.utf8.count >= 2,
            text.utf8.count <= 9, let value = UInt64(text.dropLast())
        else { return nil }
        let scale: UInt64
        switch unit {
        case UInt8(ascii: "H"): scale = 3_600_000_000_000
        case UInt8(ascii: "M"): scale = 60_000_000_000
        case UInt8(ascii: "S"): scale = 1_000_000_000
        case UInt8(ascii: "m"): scale = 1_000_000
        case UInt8(ascii: "u"): scale = 1_000
        case UInt8(ascii: "n"): scale = 1
        default: return nil
        }
        let (product, overflow) = value.multipliedReportingOverflow(by: scale)
        return overflow ? .max : product
    }

    /// `grpc-status` of a trailers block (or of a trailers-only response's headers).
    static func status(_ headers: HPACKHeaders) -> Int? {
        headers.first(name: "grpc-status").flatMap { Int($0) }
    }

    static let unavailable = 14
    static let deadlineExceeded = 4

    /// The HTTP status a gRPC status stands for, as the balancer and the outlier detection judge an answer
    /// (Envoy's table): INTERNAL, UNKNOWN and DATA_LOSS are the server's failures, UNAVAILABLE a 503.
    static func httpEquivalent(_ status: Int) -> Int {
        switch status {
        case 0: 200
        case 1: 499
        case 2, 13, 15: 500
        case 3, 9, 11: 400
        case 4: 504
        case 5: 404
        case 6, 10: 409
        case 7: 403
        case 8: 429
        case 12: 501
        case 14: 503
        case 16: 401
        default: 500
        }
    }

    /// The gRPC status for an HTTP status Mesher answers with (gRPC's HTTP-to-gRPC mapping); a timeout is the
    /// call's deadline.
    static func status(forHTTP code: Int) -> Int {
        switch code {
        case 200..<300: 0
        case 400: 13
        case 401: 16
        case 403: 7
        case 404: 12
        case 429, 502, 503: unavailable
        case 504: deadlineExceeded
        default: 2
        }
    }

    /// The status of an answer Mesher makes itself: a timeout is the call's deadline.
    static func status(for answer: MesherAnswer) -> Int {
        answer == .requestTimeout ? deadlineExceeded : status(forHTTP: answer.status.code)
    }

    /// `grpc-message` is percent-encoded: anything outside printable ASCII, and `%` itself.
    static func message(_ text: String) -> String {
        var out = ""
        for byte in text.utf8 {
            if byte >= 0x20 && byte < 0x7F && byte != UInt8(ascii: "%") {
                out.unicodeScalars.append(Unicode.Scalar(byte))
            } else {
                out += "%" + String(byte, radix: 16, uppercase: true).leftPadded(to: 2)
            }
        }
        return out
    }
}

extension String {
    fileprivate func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}
