import AIOSBlock
import AIOSPlacement

/// The scaler's scale-up places through the control plane's placement.
extension PlacementService: InstancePlacing {}
