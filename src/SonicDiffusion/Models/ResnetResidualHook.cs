using static TorchSharp.torch;

namespace SonicDiffusion.Models;

/// <summary>
/// Called by a <see cref="ResnetBlock2D"/> with its residual-branch output (after <c>conv2</c>, before the shortcut is
/// added); the returned tensor replaces it. PnP editing uses it to overwrite the edited items' features with the source
/// item's. Tensors kept beyond the call must be detached from the current dispose scope; the block releases the returned
/// tensor once it has added the shortcut, so return the residual itself or a new tensor (a view is fine), never one you keep.
/// </summary>
public delegate Tensor ResnetResidualHook(ResnetBlock2D block, Tensor residual, UNetCallContext? context);
