"""The xarray face of xsz: the ``sz`` engine, the read index and the ``ds.sz`` accessor.

``xr.open_dataset(path, engine="sz")`` (`SZBackendEntrypoint`, `open_sz`) opens
an SZ store as a Dataset of lazy ragged variables indexed by read ID
(`SZReadIndex`); ``ds.sz`` (`SZAccessor`) selects, calibrates, maps over, plots
and writes reads.
"""
