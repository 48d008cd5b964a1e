"""CDSE-style OData (``/catalogue/odata/v1``): the ``$filter`` dialect with ``OData.CSC.*``
functions, query options with keyset paging, and CDSE's JSON entities. Framework-free."""
