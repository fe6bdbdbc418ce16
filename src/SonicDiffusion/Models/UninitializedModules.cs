using System.Reflection;
using TorchSharp;
using static TorchSharp.torch;

namespace SonicDiffusion.Models;

/// <summary>
/// Builds a module whose parameters are allocated but not randomly initialised, for a model whose every parameter is
/// loaded next: it is built on the meta device (no memory, no init kernels), then each parameter is replaced by an
/// empty CPU tensor of its shape and dtype. Where that is impossible (a buffer, a parameter without a public setter,
/// a constructor that needs real values), the module is built the ordinary way, so the result is always usable.
/// Not thread-safe with other code creating tensors meanwhile: the default device and dtype are process-wide.
/// </summary>
public static class UninitializedModules
{
    /// <summary>Builds with parameters of <paramref name="dtype"/>; true in <c>Skipped</c> when random init was skipped.</summary>
    public static (T Module, bool Skipped) Create<T>(Func<T> build, ScalarType dtype) where T : nn.Module
    {
        var previousDtype = torch.get_default_dtype();
        var previousDevice = torch.get_default_device();
        T? meta = null;
        try
        {
            torch.set_default_dtype(dtype);
            torch.set_default_device(torch.META);
            try { meta = build(); }
            catch (Exception) { meta = null; }
            finally { torch.set_default_device(previousDevice); }
            if (meta is not null && Materialize(meta)) return (meta, true);
            meta?.Dispose();
            return (build(), false);
        }
        finally { torch.set_default_dtype(previousDtype); }
    }

    private static bool Materialize(nn.Module root)
    {
        var modules = root.modules().ToList();
        var plan = new List<(nn.Module Module, PropertyInfo Property, Tensor Meta)>();
        foreach (var m in modules)
        {
            if (m.named_buffers(recurse: false).Any()) return false;
            var props = m.GetType().GetProperties(BindingFlags.Public | BindingFlags.Instance);
            foreach (var (name, p) in m.named_parameters(recurse: false))
            {
                var prop = props.FirstOrDefault(x => x.Name == name && x.CanWrite && x.PropertyType.IsAssignableFrom(typeof(TorchSharp.Modules.Parameter)));
                if (prop is null || p.device_type != DeviceType.META) return false;
                plan.Add((m, prop, p));
            }
        }
        foreach (var (m, prop, p) in plan)
            prop.SetValue(m, new TorchSharp.Modules.Parameter(torch.empty(p.shape, p.dtype, torch.CPU), p.requires_grad));
        return root.parameters().All(p => p.device_type == DeviceType.CPU);
    }
}
