/// A setting value that cannot be turned into a rule.
public enum CaptureInputError: Error, Equatable, CustomStringConvertible {
    case invalid(String, String)

    public var description: String {
        switch self {
        case .invalid(let value, let reason): "'\(value)': \(reason)"
        }
    }
}
