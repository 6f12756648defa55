/// Why a message head or body was refused. Requests get a 4xx/5xx answer from Mesher, responses a 502.
public enum HTTP1ParseError: Error, Equatable, Sendable {
    case headTooLarge
    case tooManyFields
    /// A CR not followed by LF, or an LF without CR before it.
    case bareLineEnding
    case invalidStartLine
    /// A well-formed version other than HTTP/1.0 and HTTP/1.1.
    case unsupportedVersion
    case invalidTarget
    case invalidFieldName
    case invalidFieldValue
    /// A field line starting with whitespace (obs-fold, RFC 9112 §5.2).
    case obsoleteLineFolding
    case invalidContentLength
    case duplicateContentLength
    /// Anything but one `Transfer-Encoding: chunked`.
    case unsupportedTransferEncoding
    case contentLengthWithTransferEncoding
    /// Transfer-Encoding in an HTTP/1.0 message: faulty framing (RFC 9112 §6.1).
    case transferEncodingInHTTP10
    case missingHost
    case duplicateHost
    case invalidHost
    case invalidConnection
    /// TRACE or CONNECT with content.
    case bodyNotAllowed
    case invalidChunk
    case invalidStatus

    /// As logged and as the `x-mesher-error` of the answer.
    public var name: String {
        switch self {
        case .headTooLarge: "header-too-large"
        case .tooManyFields: "too-many-headers"
        case .bareLineEnding: "bare-line-ending"
        case .invalidStartLine: "invalid-start-line"
        case .unsupportedVersion: "version-not-supported"
        case .invalidTarget: "invalid-target"
        case .invalidFieldName: "invalid-header-name"
        case .invalidFieldValue: "invalid-header-value"
        case .obsoleteLineFolding: "obs-fold"
        case .invalidContentLength: "invalid-content-length"
        case .duplicateContentLength: "duplicate-content-length"
        case .unsupportedTransferEncoding: "unsupported-transfer-encoding"
        case .contentLengthWithTransferEncoding: "content-length-with-transfer-encoding"
        case .transferEncodingInHTTP10: "transfer-encoding-in-http-1.0"
        case .missingHost: "missing-host"
        case .duplicateHost: "duplicate-host"
        case .invalidHost: "invalid-host"
        case .invalidConnection: "invalid-connection"
        case .bodyNotAllowed: "body-not-allowed"
        case .invalidChunk: "invalid-chunk"
        case .invalidStatus: "invalid-status"
        }
    }
}
