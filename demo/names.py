"""Vocabulary for realistic demo data: community and road names, brand words, places of origin.

Communities and roads are listed per street as they are found in Bao'an (or close to it), so an
address reads right to someone from there; the generator draws from them without repetition.
"""

from __future__ import annotations

import random

#: Communities (社区) of each street, without the 社区 suffix.
COMMUNITIES: dict[str, list[str]] = {
    "新安": (
        "海旺 灵芝 宝民 上川 翻身 大浪 渔业 安乐 布心 海富 "
        "建安 上合 文汇 新乐 兴华 洪浪 创业 海裕 岭下 甲岸"
    ).split(),
    "西乡": (
        "流塘 臣田 共乐 桃源 河东 河西 龙腾 盐田 劳动 "
        "铁岗 麻布 乐群 径贝 凤凰岗 簕竹角 龙珠 永丰 西乡"
    ).split(),
    "航城": "黄田 鹤洲 九围 三围 钟屋 后瑞 洲石 黄麻布 固戍 草围 利锦".split(),
    "福永": "福永 怀德 凤凰 白石厦 兴围 福围 下十围 聚福 龙王庙 政丰".split(),
    "福海": "和平 塘尾 桥头 新田 新和 稔田 展城 福海".split(),
    "沙井": "沙井 沙头 步涌 衙边 共和 后亭 马安山 蚝一 蚝二 蚝三 民主 大王山 东塘 辛养".split(),
    "新桥": "新桥 上寮 黄埔 上星 万丰 沙企 新二 象山".split(),
    "松岗": "松岗 潭头 红星 东方 碧头 楼岗 沙浦 江边 溪头 花果山 松涛".split(),
    "燕罗": "燕川 罗田 塘下涌 山门 洪桥头 广田".split(),
    "石岩": "石岩 浪心 水田 官田 罗租 上屋 应人石 石龙 塘头 料坑".split(),
}

#: Roads of each street; a community's roads are some of these plus roads named after it.
ROADS: dict[str, list[str]] = {
    "新安": (
        "宝民一路 宝民二路 新湖路 创业一路 创业二路 建安一路 建安二路 海秀路 "
        "兴华一路 前进一路 宝安大道 裕安一路 新安六路 公园路"
    ).split(),
    "西乡": "西乡大道 河东路 前进二路 宝源路 乐群路 流塘路 龙珠路 桃源路".split(),
    "航城": "航城大道 固戍一路 固戍二路 鹤洲路 黄田路 钟屋路 三围路 洲石路".split(),
    "福永": "福永大道 怀德路 凤凰路 白石厦路 兴围路 福洲大道 广深公路".split(),
    "福海": "福海大道 桥和路 新和大道 塘尾路 展城路 和平路 福园一路".split(),
    "沙井": "沙井路 新沙路 沙头路 步涌路 帝堂路 中心路 北环路 南环路".split(),
    "新桥": "新桥大道 新玉路 上星路 万丰路 黄埔路 新发路 广深路".split(),
    "松岗": "松岗大道 松福大道 沙浦路 楼岗大道 东方大道 潭头路 江边路".split(),
    "燕罗": "燕川路 罗田路 燕山大道 塘下涌路 广田路 山门路".split(),
    "石岩": "石岩路 浪心路 宝石路 官田路 塘头大道 应人石路 宏发路".split(),
}

#: Characters that make shop and company brand names (字号) when two are put together.
BRAND_CHARS = (
    "华鑫宏泰盛达恒源信安创新佳美隆兴联润丰博瑞宇辉腾启明海金天中德嘉永和富万聚通顺凯锦鹏航智远"
    "卓越晟昌诚汇豪正弘祥"
)

#: Extra syllables for community names once a street's own list runs out.
SPARE_COMMUNITY_CHARS = "东西南北新上下龙凤福寿安乐和平兴华宝富岭岗塘湖山田围头"

#: Where the district's people come from: province, relative weight, and region codes (the first
#: six digits of an ID number) of counties that send many people to Shenzhen.
ORIGINS: tuple[tuple[str, int, list[str]], ...] = (
    ("广东", 30, "445281 441581 440881 441423 440823 441622 445122 440582 441481".split()),
    ("湖南", 20, "430524 431021 430682 431102 430523 431121".split()),
    ("广西", 15, "450881 450921 450722 450521 452226".split()),
    ("河南", 10, "412727 411421 411522 411628".split()),
    ("江西", 9, "360731 360732 362132 360428".split()),
    ("四川", 8, "511321 510922 511602 513030".split()),
    ("湖北", 8, "421087 420921 421127".split()),
)

#: Three-digit mobile number prefixes of the three carriers.
MOBILE_PREFIXES = (
    "130 131 132 133 134 135 136 137 138 139 147 150 151 152 153 155 156 157 158 159 166 "
    "173 175 176 177 178 180 181 182 183 184 185 186 187 188 189 191 193 195 198 199"
).split()

#: Shop kinds of individual businesses (个体工商户) by industry.
SHOP_KINDS: dict[str, tuple[str, ...]] = {
    "retail": ("便利店", "百货商行", "五金店", "水果店", "日用品店", "烟酒商行", "手机店"),
    "catering": ("餐厅", "小吃店", "粉面馆", "烧腊店", "奶茶店", "快餐店", "湘菜馆"),
    "resident_services": ("理发店", "洗衣店", "家电维修部", "开锁店", "美容店"),
    "education_training": ("托管中心", "书法培训部"),
    "healthcare": ("诊所", "药店"),
    "wholesale": ("批发部", "商行"),
    "manufacturing": ("加工厂", "五金加工部"),
}

#: What a company of each industry calls itself between its brand and "有限公司".
COMPANY_WORDS: dict[str, tuple[str, ...]] = {
    "retail": ("商贸", "百货"),
    "catering": ("餐饮管理", "饮食"),
    "manufacturing": ("电子科技", "五金制品", "塑胶制品", "精密模具", "电器", "包装材料"),
    "logistics": ("物流", "供应链管理", "货运代理"),
    "software": ("信息技术", "软件技术", "网络科技", "智能科技"),
    "construction": ("建筑工程", "装饰工程", "机电安装工程"),
    "hazardous_chemicals": ("化工", "新材料", "化学品贸易"),
    "property_management": ("物业管理", "物业服务"),
    "education_training": ("教育咨询", "文化培训"),
    "healthcare": ("医疗器械", "健康管理"),
    "wholesale": ("贸易", "进出口"),
    "resident_services": ("家政服务", "清洁服务"),
}

#: Sentences describing an event of each matter; ``{place}`` is an address or a road.
EVENT_TEMPLATES: dict[str, tuple[str, ...]] = {
    "fire_lane_blocked": (
        "{place}消防通道被私家车占用，消防车无法通行。",
        "{place}楼道及消防通道堆放杂物，存在火灾隐患。",
    ),
    "ebike_indoor_charging": (
        "{place}有住户将电动自行车推入楼道充电。",
        "{place}电梯内发现电动自行车进入，疑似入户充电。",
    ),
    "gas_leak": ("{place}闻到明显燃气味，疑似燃气泄漏。", "{place}燃气报警器报警，需立即处置。"),
    "fallen_tree": ("{place}路边大树倒伏，阻断人行道。", "{place}行道树倾斜，枝干压在电线上。"),
    "manhole_cover_missing": ("{place}井盖缺失，存在行人跌落风险。", "{place}井盖破损下沉。"),
    "waterlogging": ("{place}路段积水较深，车辆通行困难。", "{place}暴雨后地下车库入口积水。"),
    "road_damage": ("{place}路面出现坑洼破损，影响车辆通行。", "{place}人行道砖块松动破损。"),
    "street_vending": (
        "{place}有流动摊贩占道经营，影响行人通行。",
        "{place}店铺出店经营，货物占用人行道。",
    ),
    "illegal_construction": (
        "{place}楼顶正在加建铁皮房，疑似违法建设。",
        "{place}住户私自扩建围墙。",
    ),
    "rental_house_hazard": (
        "{place}出租屋电线私拉乱接，存在安全隐患。",
        "{place}出租屋未配置灭火器，逃生通道被封堵。",
    ),
    "noise_nuisance": ("{place}夜间施工噪声扰民。", "{place}商铺外放音响音量过大，居民投诉。"),
    "food_safety": ("{place}餐饮店后厨卫生状况差，有市民反映。", "{place}商店销售过期食品。"),
    "unlicensed_business": ("{place}有商户无营业执照经营。", "{place}发现无证无照小作坊。"),
    "muck_truck_spill": ("{place}泥头车遗撒渣土，路面污染严重。",),
    "neighbour_dispute": (
        "{place}住户因漏水问题与楼下邻居发生纠纷。",
        "{place}邻里因公共区域堆放杂物发生争执。",
    ),
    "elderly_alone_visit": (
        "{place}独居老人多日未出门，需上门探访。",
        "{place}独居老人申请定期探访。",
    ),
    "hazardous_chemicals_storage": (
        "{place}厂房内违规存放易燃化学品。",
        "{place}仓库危化品未分类存放。",
    ),
    "garbage_overflow": ("{place}垃圾桶满溢未及时清运。", "{place}垃圾收集点异味明显。"),
    "wage_arrears": ("{place}有工人反映企业拖欠工资两个月。", "{place}多名员工反映工厂停工欠薪。"),
}


def brand(rng: random.Random, length: int = 2) -> str:
    """A shop or company brand name (字号) such as 鑫泰."""
    return "".join(rng.sample(BRAND_CHARS, length))
