import CapsuleCTL
import Foundation

exit(CTLMain.run())
