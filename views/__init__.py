"""Per-department map views: saved, versioned cuts of the shared data, served as GeoJSON.

- :mod:`views.definition` — what a view and its layers are, and their checks;
- :mod:`views.store` — reading and writing views and their versions;
- :mod:`views.changes` — a data officer's define, update and delete;
- :mod:`views.features` — a layer's rows as GeoJSON features, cut to the viewer's plan in SQL;
- :mod:`views.serving` — what ``mapView`` and the GeoJSON endpoint share;
- :mod:`views.map_page` — the map page, ``GET /map/{code}``, and the files it loads.

``GET /views/{code}.geojson`` itself is an endpoint of the hub (:mod:`hub.endpoints.geojson`).
"""
