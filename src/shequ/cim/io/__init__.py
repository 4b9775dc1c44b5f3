"""CIM exchange: importers (register, GeoJSON, CityJSON, CityGML, IFC) and exporters
(CityJSON, GeoJSON, 3D Tiles), all meeting at the interchange model in `scene`."""
