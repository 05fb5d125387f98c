from tests.e2e.helpers import shop, shop_template

__all__ = ["shop", "shop_template"]
